"""Data-loss prevention for prompts: presidio finds personal data and secrets in the text a model will read.

``settings`` depends on pydantic only; everything else imports presidio, so this
package imports nothing eagerly (config parsing must not pay for presidio).
"""
