"""The WeCom adapter: crypto, XML, callback, API client, outbox relay, cards, photos, emulator."""
