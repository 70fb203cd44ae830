"""The reference agent: a small ASGI workspace runtime that speaks the platform's protocol (SPEC §6).

It registers (push or poll), heartbeats, keeps its credentials in private files, echoes A2A
`message/send`, can be told to misbehave (slow, fail, 5xx, drop the connection) so that tests can
exercise the platform's failure paths, and in poll mode follows its inbox through the activity
cursor. It stands for any third-party agent, so from the platform it imports only the shared wire
models."""

__version__ = "0.1.0"
