"""One file per distributed training method, each written once against the Transport interface."""
