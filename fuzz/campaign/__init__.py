"""Campaigns: a directory that is the whole state of a fuzzing run, driven by warm workers.

The public surface (the CLI, the reducer, benches and tests use these names):
``run_campaign`` with a ``CampaignConfig``; ``CampaignDir``/``CampaignState`` and
``list_bugs``/``list_buckets`` to read a campaign. Inside: ``store`` (the directory and the
state rebuilt from its log), ``config``, ``loop`` (cases to workers, results to the log), and
``engines/`` (where cases come from: ``seeded`` random generation, ``guided`` libFuzzer).
"""

from fuzz.campaign.config import CampaignConfig, parse_budget
from fuzz.campaign.loop import run_campaign
from fuzz.campaign.store import Bucket, CampaignDir, CampaignError, CampaignState, list_buckets, list_bugs

__all__ = ["Bucket", "CampaignConfig", "CampaignDir", "CampaignError", "CampaignState", "list_buckets", "list_bugs",
           "parse_budget", "run_campaign"]
