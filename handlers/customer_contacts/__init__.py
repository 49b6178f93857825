"""Customer contacts in chat and on the clock (企业微信 客户联系, docs/customer-contacts.md): events (an added,
edited or deleted external contact, 客户群 changes), link (the card that links a WeChat contact to a customer:
confirm, pick another, 不是客户), figures (the daily fetch of each member's 联系客户统计), refusals (WeCom's
permission errors answered with the console step)."""
