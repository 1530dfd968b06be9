# sheep: owned by its component
