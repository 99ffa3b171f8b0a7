"""Surveys: throughput and truth recovery at scale."""
