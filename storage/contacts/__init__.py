"""The WeCom address book kept here (docs/contacts-sync.md): `models` (the mirror of departments and members the
sync last saw), `mirror` (read it as a core AddressBook, replace it, apply one change_contact event), `apply`
(a core Plan → the users table, every change audited with before and after)."""
