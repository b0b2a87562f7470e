"""Typed keys for what the aiohttp app holds."""

from aiohttp import web

from lmgate.gateway import Gateway

GATEWAY = web.AppKey("gateway", Gateway)
