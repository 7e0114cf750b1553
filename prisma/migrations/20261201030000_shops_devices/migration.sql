-- AlterTable
ALTER TABLE "Delivery" ADD COLUMN     "shopAckDueAt" TIMESTAMP(3),
ADD COLUMN     "shopId" INTEGER,
ADD COLUMN     "shopReceivedAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "Order" ADD COLUMN     "shopId" INTEGER;

-- CreateTable
CREATE TABLE "Shop" (
    "id" SERIAL NOT NULL,
    "centerId" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "address" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Shop_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Device" (
    "id" SERIAL NOT NULL,
    "shopId" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "passwordHash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),
    "online" BOOLEAN NOT NULL DEFAULT false,
    "lastSeenAt" TIMESTAMP(3),

    CONSTRAINT "Device_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Shop_centerId_name_key" ON "Shop"("centerId", "name");

-- CreateIndex
CREATE UNIQUE INDEX "Device_username_key" ON "Device"("username");

-- CreateIndex
CREATE INDEX "Device_shopId_idx" ON "Device"("shopId");

-- CreateIndex
CREATE INDEX "Delivery_shopId_modDate_idx" ON "Delivery"("shopId", "modDate");

-- CreateIndex
CREATE INDEX "Order_shopId_modDate_idx" ON "Order"("shopId", "modDate");

-- AddForeignKey
ALTER TABLE "Order" ADD CONSTRAINT "Order_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Shop" ADD CONSTRAINT "Shop_centerId_fkey" FOREIGN KEY ("centerId") REFERENCES "Center"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Device" ADD CONSTRAINT "Device_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Backfill: every (center, shop name) that orders already carry becomes a shop, and orders and
-- deliveries point at it. The address is the one of the shop's most recent delivery.
INSERT INTO "Shop" ("centerId", "name", "address")
SELECT o."centerId", o."shopName",
       COALESCE((SELECT d."shopAddress" FROM "Delivery" d
                 WHERE d."centerId" = o."centerId" AND d."shopName" = o."shopName"
                 ORDER BY d."deliverySeq" DESC LIMIT 1), '')
FROM (SELECT DISTINCT "centerId", "shopName" FROM "Order") o;

UPDATE "Order" o SET "shopId" = s."id"
FROM "Shop" s WHERE s."centerId" = o."centerId" AND s."name" = o."shopName";

UPDATE "Delivery" d SET "shopId" = o."shopId"
FROM "Order" o WHERE o."id" = d."orderId";
