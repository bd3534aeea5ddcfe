"""End users' data: erasure (GDPR Art. 17) and export (Art. 15) across every store."""
