import uxlab.studies.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('studies', '0002_sessions_arms_fidelity_results'),
    ]

    operations = [
        migrations.AlterField(
            model_name='arm',
            name='kind',
            field=models.CharField(choices=uxlab.studies.models.arm_kind_choices, default='synthetic', max_length=20),
        ),
    ]
