"""The address book from WeCom (docs/contacts-sync.md): `sync` (a full sync on request or nightly, each
change_contact event, a member who leaves through the one deactivation path), `texts` (what the admin reads,
each WeCom restriction with the console step that lifts it)."""
