"""Leads (线索): their tables, writes (store), pool moves (pool) and scoped reads (queries). docs/leads.md."""
