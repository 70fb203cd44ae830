"""The platform's Powertools Logger and Metrics, one of each per execution environment."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="molecule")
metrics = Metrics(namespace="Molecule", service="molecule")
