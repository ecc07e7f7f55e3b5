"""What a user would otherwise build: a normalized product table with a category foreign key."""

import uuid

from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        db_table = "crud_category"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Product(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    stock = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, default="active")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "crud_product"
        ordering = ["name", "id"]
        # The read model's indexes (projections.models.CatalogProduct), so both sides list, filter
        # and write on equal terms; the SKU is unique here already.
        indexes = [
            models.Index(fields=["name", "id"], name="crud_product_name"),
            models.Index(fields=["category", "name"], name="crud_product_category_name"),
            models.Index(fields=["status", "name"], name="crud_product_status_name"),
            models.Index(fields=["price", "id"], name="crud_product_price"),
            models.Index(fields=["created_at", "id"], name="crud_product_created"),
            models.Index(fields=["updated_at", "id"], name="crud_product_updated"),
        ]

    def __str__(self):
        return self.sku
