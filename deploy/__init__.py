"""The chapter 10 model service: `uvicorn deploy.app:app` (see deploy/README.md)."""
