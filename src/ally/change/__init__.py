"""Change as the field defines it: reliable and clinically significant change (`reliable`,
`cutoffs`, `categories`), NHS Talking Therapies rules and sudden gains and losses."""
