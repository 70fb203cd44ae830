"""The local stack: API Gateway, Lambda, SQS and Scheduler stand-ins on one laptop (SPEC §7).
Everything it serves is read from template.yaml; nothing here is deployed."""
