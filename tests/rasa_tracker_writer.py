"""Write conversations into a tracker store with Rasa's own SQLTrackerStore, as the Rasa server
does (run with .venv-rasa's Python 3.10; tests/unit/rasa_trackers.py calls it).

    python rasa_tracker_writer.py '{"store": {"dialect": "sqlite", "db": "/tmp/t.db"},
                                    "conversations": {"SENDER": ["what the customer said", ...]}}'

Each text becomes a user event, the bot's answer and a slot holding the customer's email.
"""

import asyncio
import json
import sys

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker


async def write(spec: dict) -> None:
    store = SQLTrackerStore(Domain.empty(), **spec["store"])
    for sender, texts in spec["conversations"].items():
        tracker = DialogueStateTracker(sender, slots=[TextSlot("customer_email", mappings=[])])
        for text in texts:
            tracker.update(UserUttered(text, {"name": "ask_question", "confidence": 1.0}))
            tracker.update(BotUttered(f"Here is what I found about: {text}"))
        tracker.update(SlotSet("customer_email", spec.get("email", "ana@example.com")))
        await store.save(tracker)


if __name__ == "__main__":
    asyncio.run(write(json.loads(sys.argv[1])))
