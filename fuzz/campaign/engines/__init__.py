"""Campaign engines: each is a ``JobSource`` (engines.base) the campaign loop draws cases from.

A new engine is one module here, subclassing ``JobSource``, chosen by name in
``fuzz.campaign.loop.run_campaign``.
"""
