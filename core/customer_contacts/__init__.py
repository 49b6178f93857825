"""Customer contacts (企业微信 客户联系), pure rules: which customer an external contact is (matching) and what the
member's WeChat reply figures are worth on the scorecard (speed). docs/customer-contacts.md."""
