"""Leads, pure rules: the policy (score card, sequences, pools), the 新线索 line, scoring, recommendations."""
