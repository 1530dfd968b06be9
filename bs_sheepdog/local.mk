# bs_sheepdog: owned by its component
