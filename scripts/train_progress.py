"""Condense `rasa train` output to one line per component and per 10 % of each training run."""

import re
import sys

last: dict[str, int] = {}
component = ""
for raw in sys.stdin.buffer:
    for line in raw.decode(errors="replace").replace("\r", "\n").splitlines():
        started = re.search(r"Starting to train component '(\w+)'", line)
        if started:
            component = started.group(1)
            print(f"[train] {component}…", flush=True)
            continue
        epoch = re.search(r"Epochs:\s+(\d+)%", line)
        if epoch and component:
            tenth = int(epoch.group(1)) // 10
            if tenth > last.get(component, -1):
                last[component] = tenth
                print(f"[train]   {component}: {tenth * 10}%", flush=True)
            continue
        if "Your Rasa model is trained" in line or re.search(r"\b(Error|Exception)\b", line):
            print(f"[train] {line.strip()}", flush=True)
