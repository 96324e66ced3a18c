"""The wire: aiohttp's server, our connection handling, the bytes of answers and of faults.

With the control API's handlers, the only layer that imports aiohttp.
"""
