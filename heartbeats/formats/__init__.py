"""Date and time formats for the admin and the audit trail (settings.FORMAT_MODULE_PATH)."""
