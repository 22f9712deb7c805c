"""Alerts: webhook endpoints that hear about drift and deployments (README: alerts).

``config`` reads the alerts file, ``payloads`` makes the signed Standard Webhooks requests,
``store`` keeps deliveries in Redis, ``delivery`` sends them with retries, ``agents`` wires it
all to ``drift-events``.
"""
