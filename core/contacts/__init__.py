"""The WeCom address book (通讯录) as plain data, and the pure rules that map it onto the reporting tree
(docs/contacts-sync.md): `book` (departments, members, what WeCom withheld), `mapping` (departments and
leaders → `users.manager_userid`, roles by the admin's rules, the plan of changes)."""
