"""The Binance futures boundary, framework-free: signing (signing.py), the error tree (errors.py), the REST
client (client.py) and the redaction of secrets from text and logs (redact.py)."""
