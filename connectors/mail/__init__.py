"""Parts of the e-mail channel (connectors.email): reading a mail, threads and their state, writing answers,
and the IMAP/SMTP clients."""
