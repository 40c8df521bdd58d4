# technique: `import socket` to reach the network
# expect: forbidden
import socket  # <-


def workflow():
    socket.create_connection(("example.com", 80))
    return Plan("x")
