"""Smoke runs of `make bench` and `make eval` (scripts/bench_e2e.py, scripts/eval_bot.py) with tiny
sizes against the session's real stack: they run end to end, print their tables and write JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def run_script(stack, *args: str, timeout: float = 100) -> subprocess.CompletedProcess[str]:
    """Run a script the way `make` does, with the stack's settings (its hub database for agents)."""
    completed = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=stack.env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


def test_bench_quick_against_the_running_stack(stack, tmp_path: Path) -> None:
    completed = run_script(
        stack,
        "scripts/bench_e2e.py",
        "--quick",
        "--hub-url",
        stack.hub_url,
        "--rasa-url",
        stack.rasa_url,
        "--actions-url",
        f"http://127.0.0.1:{stack.actions_port}/webhook",
        "--hub-pid",
        str(stack.processes["hub"].pid),
        "--rasa-tracker-db",
        str(stack.workdir / "rasa-tracker.sqlite3"),
        "--out",
        str(tmp_path),
    )
    assert "## End to end" in completed.stdout and "## Turn anatomy" in completed.stdout
    result = json.loads((tmp_path / "e2e-quick-latest.json").read_text())
    levels = result["end_to_end"]["levels"]
    assert [level["hub"]["concurrency"] for level in levels] == [1, 2]
    for level in levels:
        for target in ("hub", "rasa"):
            assert level[target]["errors"] == 0 and level[target]["unexpected_replies"] == 0, level[target]
            assert level[target]["p50_ms"] > 0 and level[target]["msgs_per_s"] > 0
        assert level["p50_ratio"] > 0 and level["throughput_ratio"] > 0
    parts = result["anatomy"]["parts_p50"]
    assert parts["action_server_ms"] > 0 and parts["embed_ms"] > 0 and parts["search_ms"] > 0
    assert result["anatomy"]["tracker_source"].startswith("built from Rasa's tracker store")
    idle = result["idle"]
    assert idle["alive_at_end"] == idle["connections"] == 20 and idle["rss_per_connection_kib"] is not None
    relay = result["relay"]
    assert relay["paced"]["errors"] == 0 and relay["paced"]["messages"] == relay["conversations"] == 5
    assert relay["saturated_50_in_flight"]["messages"] == 5
    drain = relay["queue_drain"]
    assert drain["conversations"] == 5 and drain["drained_s"] > 0 and drain["claim_p50_ms"] > 0
    assert "## Queue drain" in completed.stdout and "## Overload" in completed.stdout
    (overload,) = result["overload"]["runs"]
    assert overload["bot_unavailable"] == 0 and overload["errors"] == 0 and overload["turns"] == 6
    assert "scale_out" not in result


def test_eval_tiny_against_the_running_stack(stack, tmp_path: Path) -> None:
    completed = run_script(
        stack,
        "scripts/eval_bot.py",
        "--hub-url",
        stack.hub_url,
        "--limit",
        "6",
        "--oos-limit",
        "4",
        "--conversations-limit",
        "3",
        "--acts-limit",
        "4",
        "--followups-limit",
        "2",
        "--out",
        str(tmp_path),
    )
    assert "## Answer accuracy" in completed.stdout and "## Summary check" in completed.stdout
    result = json.loads((tmp_path / "bot-latest.json").read_text())
    assert result["accuracy"]["questions"] == 6 and 0 <= result["accuracy"]["accuracy"] <= 1
    assert result["out_of_scope"]["queries"] == 4
    handoff = result["handoff"]
    assert handoff["conversations"] == 3
    # The first scripted conversations ask for a person: each reaches the queue with the reason
    # customer_request, read back through the agent API.
    assert [row["reason"] for row in handoff["rows"]] == ["customer_request"] * 3
    assert handoff["summaries_checked"] == 3
    assert 0 <= result["accuracy"]["search_alone_accuracy"] <= 1
    assert result["dialogue_acts"]["phrasings"] == 4
    assert result["follow_ups"]["conversations"] == 2 and 0 <= result["follow_ups"]["follow_up_right"] <= 1


def test_eval_runs_in_a_clone_with_nothing_beside_it(stack, tmp_path: Path) -> None:
    """Everything `make eval` reads lives in the repository: a clone in an empty folder, with
    nothing beside it, evaluates the running stack with its own files."""
    clone = tmp_path / "alone" / "repo"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{ROOT}", str(clone)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert sorted(p.name for p in clone.parent.iterdir()) == ["repo"]
    completed = subprocess.run(
        [
            sys.executable,
            "scripts/eval_bot.py",
            "--hub-url",
            stack.hub_url,
            "--limit",
            "3",
            "--oos-limit",
            "2",
            "--conversations-limit",
            "0",
            "--acts-limit",
            "2",
            "--followups-limit",
            "1",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=clone,
        env={k: v for k, v in stack.env().items() if k != "KB_EVAL_DATA_DIR"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "bot-latest.json").read_text())
    assert result["accuracy"]["questions"] == 3 and result["out_of_scope"]["queries"] == 2


def test_the_sign_in_bench_measures_the_hub_and_its_baseline() -> None:
    """`scripts/bench_sign_in.py` runs and reports both figures (no timing is asserted)."""
    done = subprocess.run(
        [sys.executable, "scripts/bench_sign_in.py", "--attempts", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((ROOT / "var" / "bench" / "sign-in.json").read_text())
    assert result["attempts"] == 3
    assert result["hub_longest_stall_ms"] >= 0 and result["on_loop_longest_stall_ms"] > 0
    assert "stalls" in done.stdout


def test_the_studio_bench_measures_the_list_and_the_search(tmp_path: Path) -> None:
    """`scripts/bench_studio.py` runs on a small generated help center (no timing is asserted)."""
    done = subprocess.run(
        [
            sys.executable,
            "scripts/bench_studio.py",
            "--articles",
            "60",
            "--requests",
            "3",
            "--output",
            str(tmp_path / "studio.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "studio.json").read_text())
    assert result["articles"] == 60
    assert {"studio_list", "studio_list_search", "help_search"} <= set(result)
    assert result["help_search"]["n"] == 3 and "help_search" in done.stdout


def test_the_search_bench_seeds_both_stores_and_times_every_search(tmp_path: Path) -> None:
    """`scripts/bench_search.py` on 300 conversations per store (no timing is asserted)."""
    done = subprocess.run(
        [
            sys.executable,
            "scripts/bench_search.py",
            "--conversations",
            "300",
            "--requests",
            "2",
            "--output",
            str(tmp_path / "search.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "search.json").read_text())
    assert set(result["stores"]) == {"sqlite", "postgresql"}
    for store in result["stores"].values():
        searches = store["searches"]
        assert len(searches) == 9 and all(row["n"] == 2 for row in searches.values())
        # what the bench looks for is there: one customer by email and by reference
        assert searches["customer email"]["results"] == 1 and searches["transaction reference"]["results"] == 1
    assert "| customer email |" in done.stdout
