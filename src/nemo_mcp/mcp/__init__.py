"""The MCP face: nemo-mcp as an MCP server, over the studio.

server      build_server and serve (stdio, streamable HTTP)
tools       the tools, each under its name in ``faces.Tool``
resources   the timeline, draft and render resources, and their URIs
prompts     the prompt menu, from the skill manifest
completion  argument completion (sessions, renders, media files, choices)
results     the one shape of a result, and of an error
arguments   refused arguments, told in words
context     what a handler takes from its request: the studio, progress
base        the SDK server with one error path, compact schemas, cache hints
hostrules   which Host and Origin headers ``serve --http`` answers
catalog     the tools/list answer, saved between runs
slot        the studio, opened off the start-up path
stdio       stdio on the event loop's own pipes
exchange    stateless HTTP: a handshake-era request served as one exchange
"""
