"""Measuring the knowledge base, apart from serving it: `evaluate` (make eval-kb: ranking and
tiers on BANKING77 and CLINC150), `bench` (make bench-kb: build, re-index, search latency,
memory) and `history` (the figures run by run, and their chart). Nothing that serves answers
imports this package."""
