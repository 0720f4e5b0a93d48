"""`python -m model_server`: serve the model on 127.0.0.1:8001 (MODEL_SERVER_HOST / MODEL_SERVER_PORT override)."""

from __future__ import annotations

import os

import uvicorn

if __name__ == "__main__":
    uvicorn.run("model_server.main:app", host=os.environ.get("MODEL_SERVER_HOST", "127.0.0.1"),
                port=int(os.environ.get("MODEL_SERVER_PORT", "8001")))
