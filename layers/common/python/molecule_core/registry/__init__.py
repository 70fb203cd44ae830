"""The registry agents talk to: register, heartbeat, card, discovery, peers, the access rule."""
