"""Email: the outbox and its sender, what customers and agents receive, signed links, and
replies that come back (README, "Email"). One module per job:

- `links`: signed, expiring links that reopen one conversation, and signed reply addresses;
- `render`: the messages (plain text and HTML, every customer string escaped);
- `sender`: the transports (.eml files when no SMTP_URL, else SMTP with aiosmtplib);
- `outbox`: `Mailer`, which decides what to send and sends it from the outbox with retries;
- `inbound`: replies and bounces, from the webhook or the SMTP receiver, into the conversation;
- `receiver`: the small SMTP server (aiosmtpd) for the embedded set-up;
- `api`: the HTTP routes (link exchange, inbound webhook, "email me this conversation").
"""
