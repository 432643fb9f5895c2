"""Accounts: rosters → desired state → diff against the directory → plan → apply (SPEC §3, §4)."""
