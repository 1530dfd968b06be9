# lib: owned by its component
