"""Condense `rasa train` output to one line per component and per 10 % of each training run.

Progress bars redraw with carriage returns, so input is read in chunks, not lines."""

import re
import sys

last: dict[str, int] = {}
component = ""
pending = ""


def handle(line: str) -> None:
    global component
    started = re.search(r"Starting to train component '(\w+)'", line)
    if started:
        component = started.group(1)
        print(f"[train] {component}…", flush=True)
        return
    epoch = re.search(r"Epochs:\s+(\d+)%", line)
    if epoch and component:
        tenth = int(epoch.group(1)) // 10
        if tenth > last.get(component, -1):
            last[component] = tenth
            print(f"[train]   {component}: {tenth * 10}%", flush=True)
        return
    if "Your Rasa model is trained" in line or re.search(r"\b(Error|Exception)\b", line):
        print(f"[train] {line.strip()}", flush=True)


while chunk := sys.stdin.buffer.read1(4096):
    pending += chunk.decode(errors="replace")
    *lines, pending = re.split(r"[\r\n]", pending)
    for line in lines:
        handle(line)
handle(pending)
