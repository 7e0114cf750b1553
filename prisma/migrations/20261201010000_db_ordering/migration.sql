-- AlterTable
ALTER TABLE "Delivery" ADD COLUMN     "txid" BIGINT NOT NULL DEFAULT (pg_current_xact_id())::text::bigint;

-- AlterTable
ALTER TABLE "Order" ADD COLUMN     "version" INTEGER NOT NULL DEFAULT 1;

-- CreateIndex
CREATE INDEX "Delivery_centerId_txid_idx" ON "Delivery"("centerId", "txid");

-- Order without node clocks (see protocol/merge.ts). Every write of a delivery records the
-- transaction that made it; every change of a delivery, order or rider gets its modDate from the
-- database clock (display only). Row order itself is the version the UPDATE increments.
CREATE FUNCTION "dd_delivery_stamp"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW."txid" := pg_current_xact_id()::text::bigint;
  IF TG_OP = 'UPDATE' THEN
    NEW."modDate" := clock_timestamp();
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER "Delivery_stamp" BEFORE INSERT OR UPDATE ON "Delivery"
  FOR EACH ROW EXECUTE FUNCTION "dd_delivery_stamp"();

CREATE FUNCTION "dd_versioned_mod_date"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."version" IS DISTINCT FROM OLD."version" THEN
    NEW."modDate" := clock_timestamp();
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER "Order_mod_date" BEFORE UPDATE ON "Order"
  FOR EACH ROW EXECUTE FUNCTION "dd_versioned_mod_date"();

CREATE TRIGGER "Rider_mod_date" BEFORE UPDATE ON "Rider"
  FOR EACH ROW EXECUTE FUNCTION "dd_versioned_mod_date"();
