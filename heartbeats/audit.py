"""Audit trail: Operation rows for human actions, django-auditlog registrations for record diffs."""
