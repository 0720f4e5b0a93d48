"""Brokers: the KIS Open API client (`broker.kis`) and the adapters orders go through."""
