"""The OIP gRPC API: its .proto and the stubs scripts/grpc_stubs.py generates from it (do not edit those)."""
