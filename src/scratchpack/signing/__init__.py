"""Image signatures compatible with cosign's key-pair mode: keys, payloads, storage."""
