"""Leads in chat and on the clock (docs/leads.md): intake (新线索, 跟进线索, 转客户, 线索输单), the grade-driven
sequences (sop), the pools (pool: the dormancy sweep, nurture, 公海 and 领取), recommendations (推荐产品) and the
lead board (线索看板)."""
