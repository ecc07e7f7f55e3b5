from rest_framework import serializers

from .models import Category, Product


class ProductSerializer(serializers.ModelSerializer):
    # The same body as the service's register command: the category by name.
    category = serializers.SlugRelatedField(slug_field="name", queryset=Category.objects.all())

    class Meta:
        model = Product
        fields = [
            "id", "sku", "name", "description", "category", "price", "currency",
            "stock", "status", "created_at", "updated_at",
        ]
        read_only_fields = ["id", "status", "created_at", "updated_at"]


class CategorySummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    active_products = serializers.IntegerField()
    discontinued_products = serializers.IntegerField()
    total_stock = serializers.IntegerField()
