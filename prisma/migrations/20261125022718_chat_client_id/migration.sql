-- AlterTable
ALTER TABLE "ChatMessage" ADD COLUMN     "clientId" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "ChatMessage_roomId_userId_clientId_key" ON "ChatMessage"("roomId", "userId", "clientId");
