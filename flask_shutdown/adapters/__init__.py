"""Server adapters: one module per kind of server, each knowing how to
recognise that server from a request and how to stop it. The registry in
:mod:`.registry` chooses one; the sequence calls it; adapters call the
servers, and never the extension.
"""
