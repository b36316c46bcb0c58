"""Sentiment of customer text (VADER lexicon), used for the frustration trigger and the summary."""

from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def compound_score(text: str) -> float:
    """-1 (very negative) … +1 (very positive)."""
    return float(_analyzer().polarity_scores(text)["compound"])


def label(score: float) -> str:
    if score <= -0.5:
        return "very negative"
    if score <= -0.05:
        return "negative"
    if score >= 0.05:
        return "positive"
    return "neutral"
