# dog: owned by its component
