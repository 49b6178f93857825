"""Customer contacts (企业微信 客户联系, docs/customer-contacts.md): models (a member's external contacts and their
link to a customer, the member's daily WeCom figures, 客户群), store (writes, audited), speed (the scorecard's
WeCom response figures per customer)."""
